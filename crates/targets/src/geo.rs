//! The communes map of the operations centre (bản đồ xã, phường), drawn on the server as SVG.
//!
//! **The cells are approximations, not legal boundaries.** The platform has no boundary data:
//! only each commune's centre (lat/lng from the reference data, `communes.json`). Each commune
//! gets its Voronoi cell — the points nearer its centre than any other — clipped to the
//! province's outline approximated by the convex hull of all centres, pushed outwards by
//! [`HULL_MARGIN_DEG`] so the communes on the edge are not cut at their centres.
//!
//! Projection: equirectangular around the centres' mean latitude (x = lng × cos φ₀, y = −lat),
//! which is accurate to well under 1 % over a province. The cells are computed by clipping
//! the outline with the half-plane of each other centre's perpendicular bisector
//! (Sutherland–Hodgman), O(n²) for n centres — 65 in Lạng Sơn.

/// How far the outline is pushed out from the outermost centres, in degrees (about 5 km).
pub const HULL_MARGIN_DEG: f64 = 0.05;

/// A point in the projected plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pt {
    pub x: f64,
    pub y: f64,
}

fn cross(o: Pt, a: Pt, b: Pt) -> f64 {
    (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x)
}

/// The convex hull, counter-clockwise (Andrew's monotone chain); fewer than 3 distinct points
/// give what there is.
pub fn convex_hull(points: &[Pt]) -> Vec<Pt> {
    let mut p: Vec<Pt> = points.to_vec();
    p.sort_by(|a, b| a.x.total_cmp(&b.x).then(a.y.total_cmp(&b.y)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut lower: Vec<Pt> = Vec::new();
    for &q in &p {
        while lower.len() >= 2 && cross(lower[lower.len() - 2], lower[lower.len() - 1], q) <= 0.0 {
            lower.pop();
        }
        lower.push(q);
    }
    let mut upper: Vec<Pt> = Vec::new();
    for &q in p.iter().rev() {
        while upper.len() >= 2 && cross(upper[upper.len() - 2], upper[upper.len() - 1], q) <= 0.0 {
            upper.pop();
        }
        upper.push(q);
    }
    lower.pop();
    upper.pop();
    lower.extend(upper);
    lower
}

/// The polygon pushed outwards: each vertex moved `margin` away from the centroid.
pub fn grow(poly: &[Pt], margin: f64) -> Vec<Pt> {
    let n = poly.len().max(1) as f64;
    let c = Pt {
        x: poly.iter().map(|p| p.x).sum::<f64>() / n,
        y: poly.iter().map(|p| p.y).sum::<f64>() / n,
    };
    poly.iter()
        .map(|p| {
            let (dx, dy) = (p.x - c.x, p.y - c.y);
            let d = (dx * dx + dy * dy).sqrt();
            if d == 0.0 {
                *p
            } else {
                Pt {
                    x: p.x + dx / d * margin,
                    y: p.y + dy / d * margin,
                }
            }
        })
        .collect()
}

/// The part of `poly` on `a`'s side of the perpendicular bisector of `a`–`b`.
fn clip_bisector(poly: &[Pt], a: Pt, b: Pt) -> Vec<Pt> {
    let (nx, ny) = (b.x - a.x, b.y - a.y);
    let (mx, my) = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
    // Inside when (p − m)·n ≤ 0.
    let side = |p: Pt| (p.x - mx) * nx + (p.y - my) * ny;
    let mut out = Vec::with_capacity(poly.len() + 1);
    for i in 0..poly.len() {
        let (p, q) = (poly[i], poly[(i + 1) % poly.len()]);
        let (sp, sq) = (side(p), side(q));
        if sp <= 0.0 {
            out.push(p);
        }
        if (sp <= 0.0) != (sq <= 0.0) {
            let t = sp / (sp - sq);
            out.push(Pt {
                x: p.x + (q.x - p.x) * t,
                y: p.y + (q.y - p.y) * t,
            });
        }
    }
    out
}

/// The Voronoi cell of every site, clipped to `outline` (convex), in the sites' order.
pub fn voronoi(sites: &[Pt], outline: &[Pt]) -> Vec<Vec<Pt>> {
    sites
        .iter()
        .enumerate()
        .map(|(i, &a)| {
            let mut cell = outline.to_vec();
            for (j, &b) in sites.iter().enumerate() {
                if i != j && a != b && !cell.is_empty() {
                    cell = clip_bisector(&cell, a, b);
                }
            }
            cell
        })
        .collect()
}

/// The area of a simple polygon (positive when counter-clockwise).
pub fn area(poly: &[Pt]) -> f64 {
    let n = poly.len();
    (0..n)
        .map(|i| {
            let (p, q) = (poly[i], poly[(i + 1) % n]);
            p.x * q.y - q.x * p.y
        })
        .sum::<f64>()
        / 2.0
}

/// One commune on the map.
#[derive(Debug, Clone)]
pub struct Place {
    pub code: String,
    pub name: String,
    pub lat: f64,
    pub lng: f64,
    /// The shading class (index into the palette), `None`: no value.
    pub class: Option<usize>,
    /// The cell's title (name and value).
    pub title: String,
    /// Where a click on the cell leads (`""`: nowhere).
    pub href: String,
}

/// The legend's classes: (colour, label).
pub struct Legend<'a> {
    pub title: &'a str,
    pub classes: &'a [(&'a str, String)],
    /// The colour and label of a cell without a value.
    pub none: (&'a str, &'a str),
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The map as SVG: one `<path class="cell">` per place with `data-commune`, its fill and a
/// `<title>`, a dot at each centre, and the legend below.
pub fn map_svg(title: &str, places: &[Place], legend: &Legend<'_>) -> String {
    let phi0 = if places.is_empty() {
        0.0
    } else {
        (places.iter().map(|p| p.lat).sum::<f64>() / places.len() as f64).to_radians()
    };
    let k = phi0.cos();
    let sites: Vec<Pt> = places
        .iter()
        .map(|p| Pt {
            x: p.lng * k,
            y: -p.lat,
        })
        .collect();
    let outline = grow(&convex_hull(&sites), HULL_MARGIN_DEG);
    let cells = voronoi(&sites, &outline);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in &outline {
        x0 = x0.min(p.x);
        y0 = y0.min(p.y);
        x1 = x1.max(p.x);
        y1 = y1.max(p.y);
    }
    if outline.is_empty() {
        (x0, y0, x1, y1) = (0.0, 0.0, 1.0, 1.0);
    }
    // Scale to 600 units wide, keeping proportions.
    let w = 600.0;
    let s = w / (x1 - x0).max(1e-9);
    let h = ((y1 - y0) * s).max(1.0);
    let legend_h = 24.0 * (legend.classes.len() as f64 + 2.0);
    let tx = |p: &Pt| ((p.x - x0) * s, (p.y - y0) * s);
    let mut out = format!(
        "<svg class=\"ops-map\" viewBox=\"0 0 {w:.0} {:.0}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        h + legend_h,
        esc(title)
    );
    for (place, cell) in places.iter().zip(&cells) {
        if cell.len() < 3 {
            continue;
        }
        let mut d = String::new();
        for (i, p) in cell.iter().enumerate() {
            let (x, y) = tx(p);
            d.push_str(&format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" }));
        }
        d.push('Z');
        let fill = place
            .class
            .and_then(|c| legend.classes.get(c))
            .map_or(legend.none.0, |c| c.0);
        let path = format!(
            "<path class=\"cell\" data-commune=\"{}\" d=\"{d}\" fill=\"{fill}\" stroke=\"#0f172a\" stroke-width=\"0.8\"><title>{}</title></path>",
            esc(&place.code),
            esc(&place.title)
        );
        if place.href.is_empty() {
            out.push_str(&path);
        } else {
            out.push_str(&format!("<a href=\"{}\">{path}</a>", esc(&place.href)));
        }
    }
    for site in &sites {
        let (x, y) = tx(site);
        out.push_str(&format!(
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.6\" fill=\"#0f172a\" pointer-events=\"none\"/>"
        ));
    }
    let mut y = h + 20.0;
    out.push_str(&format!(
        "<text class=\"legend-title\" x=\"4\" y=\"{y:.0}\" font-size=\"14\" font-weight=\"bold\" fill=\"currentColor\">{}</text>",
        esc(legend.title)
    ));
    for (colour, label) in legend
        .classes
        .iter()
        .map(|(c, l)| (*c, l.as_str()))
        .chain(std::iter::once(legend.none))
    {
        y += 24.0;
        out.push_str(&format!(
            "<rect class=\"legend\" x=\"4\" y=\"{:.0}\" width=\"18\" height=\"16\" fill=\"{colour}\" stroke=\"#0f172a\"/><text x=\"30\" y=\"{y:.0}\" font-size=\"14\" fill=\"currentColor\">{}</text>",
            y - 13.0,
            esc(label)
        ));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f64, y: f64) -> Pt {
        Pt { x, y }
    }

    #[test]
    fn hull_of_a_square_with_an_inner_point() {
        let h = convex_hull(&[
            pt(0.0, 0.0),
            pt(2.0, 0.0),
            pt(1.0, 1.0),
            pt(2.0, 2.0),
            pt(0.0, 2.0),
        ]);
        assert_eq!(h.len(), 4);
        assert!((area(&h) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn cells_of_two_sites_split_the_square_in_half() {
        let square = [pt(0.0, 0.0), pt(2.0, 0.0), pt(2.0, 2.0), pt(0.0, 2.0)];
        let cells = voronoi(&[pt(0.5, 1.0), pt(1.5, 1.0)], &square);
        assert!((area(&cells[0]) - 2.0).abs() < 1e-12);
        assert!((area(&cells[1]) - 2.0).abs() < 1e-12);
        assert!(cells[0].iter().all(|p| p.x <= 1.0 + 1e-12));
    }

    #[test]
    fn cells_partition_the_outline_and_hold_their_site() {
        // A 7 × 5 grid, jittered.
        let sites: Vec<Pt> = (0..35)
            .map(|i| {
                let (a, b) = ((i % 7) as f64, (i / 7) as f64);
                pt(
                    a + 0.13 * ((i * 7 % 5) as f64),
                    b + 0.11 * ((i * 3 % 4) as f64),
                )
            })
            .collect();
        let outline = grow(&convex_hull(&sites), 0.5);
        let cells = voronoi(&sites, &outline);
        let total: f64 = cells.iter().map(|c| area(c)).sum();
        assert!((total - area(&outline)).abs() < 1e-9, "{total}");
        for (s, c) in sites.iter().zip(&cells) {
            // The site is inside its (convex) cell: on the left of every edge.
            for i in 0..c.len() {
                assert!(cross(c[i], c[(i + 1) % c.len()], *s) >= -1e-12);
            }
        }
    }
}
