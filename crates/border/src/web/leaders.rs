//! `/lanh-dao/cua-khau`: the border page of the leaders' dashboard — charts drawn on the server
//! as SVG, the page refreshing itself every minute (a wall screen or a tablet).

use crate::dashboard::{self, direction_colour};
use crate::gates::{self, Direction};
use crate::svg::{self, Series};
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use tinhso_http::error::PageError;
use tinhso_http::layout::{render, Chrome};
use tinhso_http::{AppState, ReqCtx};
use tinhso_store::now_micros;

pub fn routes() -> Router<AppState> {
    Router::new().route("/lanh-dao/cua-khau", get(page))
}

#[derive(Deserialize)]
struct Q {
    /// Days shown (default 14).
    ngay: Option<i64>,
}

struct GateChart {
    name: String,
    svg: String,
    total: i64,
}

struct YardRow {
    gate: String,
    name: String,
    kind: String,
    trucks: i64,
    capacity: i64,
    gauge: String,
}

#[derive(Template)]
#[template(path = "border_leaders.html")]
struct LeadersPage {
    c: Chrome,
    days: i64,
    as_of: String,
    crossed_today: i64,
    at_border_now: i64,
    declared_for_today: i64,
    review_open: i64,
    all_gates: String,
    gate_charts: Vec<GateChart>,
    yards: Vec<YardRow>,
    dwell: Vec<dashboard::Dwell>,
    fees_svg: String,
    fees_total: String,
    /// Today's service time per gate and agency: (gate, check, checks, p50 min, p90 min).
    service: Vec<(String, String, usize, String, String)>,
    /// The next 72 hours per gate: (name, peak queue, yard capacity, chart).
    outlook: Vec<(String, i64, i64, String)>,
    alerts: Vec<crate::forecast::Alert>,
}

async fn page(
    State(state): State<AppState>,
    ctx: ReqCtx,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    let days = q.ngay.unwrap_or(14).clamp(1, 92);
    let now = now_micros();
    let d = dashboard::compute(&state.db, now, days)
        .await
        .map_err(|e| ctx.page_err(e))?;
    let gates = gates::list(&state.db).await.map_err(|e| ctx.page_err(e))?;
    let en = ctx.lang.is_en();
    let mut all_by_dir: Vec<Series<'_>> = Vec::new();
    for dir in Direction::ALL {
        let mut values = vec![0; d.days.len()];
        for per in d.crossings.values() {
            if let Some(v) = per.get(dir.as_str()) {
                for (i, x) in v.iter().enumerate() {
                    values[i] += x;
                }
            }
        }
        if values.iter().any(|v| *v > 0) {
            all_by_dir.push(Series {
                name: if en { dir.name_en() } else { dir.name_vi() },
                colour: direction_colour(dir),
                values,
            });
        }
    }
    let title = if en {
        "Vehicles crossed per day, all gates"
    } else {
        "Xe qua cửa khẩu mỗi ngày, tất cả cửa khẩu"
    };
    let all_gates = svg::stacked_bars(title, &d.days, &all_by_dir);
    let mut gate_charts = Vec::new();
    for g in &gates {
        let Some(per) = d.crossings.get(&g.code) else {
            continue;
        };
        let series: Vec<Series<'_>> = Direction::ALL
            .iter()
            .filter_map(|dir| {
                per.get(dir.as_str()).map(|v| Series {
                    name: if en { dir.name_en() } else { dir.name_vi() },
                    colour: direction_colour(*dir),
                    values: v.clone(),
                })
            })
            .collect();
        let total = series.iter().flat_map(|s| s.values.iter()).sum();
        gate_charts.push(GateChart {
            name: g.name_vi.clone(),
            svg: svg::stacked_bars(&g.name_vi, &d.days, &series),
            total,
        });
    }
    let yards = d
        .yards
        .iter()
        .map(|y| YardRow {
            gate: y.gate_name.clone(),
            name: y.name.clone(),
            kind: y.kind.clone(),
            trucks: y.trucks,
            capacity: y.capacity,
            gauge: svg::gauge(&y.name, y.trucks, y.capacity),
        })
        .collect();
    let fees_svg = svg::stacked_bars(
        if en {
            "Fees received per day (thousand VND)"
        } else {
            "Phí thu được mỗi ngày (nghìn đồng)"
        },
        &d.days,
        &[
            Series {
                name: if en {
                    "Budget (90%)"
                } else {
                    "Ngân sách (90%)"
                },
                colour: "#0f766e",
                values: d
                    .fees_per_day
                    .iter()
                    .zip(&d.collector_per_day)
                    .map(|(a, c)| (a - c) / 1000)
                    .collect(),
            },
            Series {
                name: if en {
                    "Collector (10%)"
                } else {
                    "Đơn vị thu (10%)"
                },
                colour: "#a16207",
                values: d.collector_per_day.iter().map(|c| c / 1000).collect(),
            },
        ],
    );
    let today = crate::declaration::local(now).date_naive();
    let mins = |s: i64| format!("{:.1}", s as f64 / 60.0);
    let service = crate::checks::service_times(&state.db, None, today)
        .await
        .map_err(|e| ctx.page_err(e))?
        .into_iter()
        .map(|t| {
            (
                gates
                    .iter()
                    .find(|g| g.code == t.gate)
                    .map(|g| g.name_vi.clone())
                    .unwrap_or(t.gate),
                t.kind.name_vi().to_string(),
                t.checks,
                mins(t.p50_s),
                mins(t.p90_s),
            )
        })
        .collect();
    let forecasts = crate::forecast::current(&state.db, now, &Default::default())
        .await
        .map_err(|e| ctx.page_err(e))?;
    let mut alerts = Vec::new();
    let outlook = forecasts
        .into_iter()
        .map(|f| {
            let hours: Vec<String> = (0..f.total_queue.len())
                .map(|h| {
                    crate::declaration::local(f.as_of + h as i64 * 3_600_000_000)
                        .format("%d/%m %Hh")
                        .to_string()
                })
                .collect();
            let queue: Vec<i64> = f.total_queue.iter().map(|q| q.round() as i64).collect();
            let peak = queue.iter().copied().max().unwrap_or(0);
            let chart = svg::stacked_bars(
                &format!(
                    "{}: {}",
                    f.name_vi,
                    if en {
                        "projected queue, 72 h"
                    } else {
                        "hàng chờ dự báo 72 giờ"
                    }
                ),
                &hours,
                &[Series {
                    name: if en { "trucks waiting" } else { "xe chờ" },
                    colour: if peak > f.yard_capacity {
                        "#b91c1c"
                    } else {
                        "#475569"
                    },
                    values: queue,
                }],
            );
            alerts.extend(f.alerts.iter().cloned());
            (f.name_vi, peak, f.yard_capacity, chart)
        })
        .collect();
    Ok(render(&LeadersPage {
        outlook,
        alerts,
        service,
        c: Chrome::of(&ctx),
        days,
        as_of: tinhso_http::layout::local_time(now),
        crossed_today: d.crossed_today,
        at_border_now: d.at_border_now,
        declared_for_today: d.declared_for_today,
        review_open: d.review_open,
        all_gates,
        gate_charts,
        yards,
        dwell: d.dwell,
        fees_svg,
        fees_total: tinhso_kernel::money::Vnd(d.fees_per_day.iter().sum()).to_string(),
    }))
}
