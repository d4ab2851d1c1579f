#!/usr/bin/env bash
# Tỉnh số: the fonts embedded in generated PDFs (phông chữ nhúng trong PDF).
#
#   scripts/fonts/generate.sh
#
# Writes crates/pdf/fonts/NotoSans-{Regular,Bold,Italic}.ttf and OFL.txt from the npm package
# @expo-google-fonts/noto-sans (Noto Sans by Google, SIL Open Font License 1.1), cut down with
# fontTools (PyPI) to the characters Vietnamese documents use: Basic Latin, Latin-1, Latin
# Extended-A (Đ đ Ă ă Ĩ ĩ Ũ ũ), Ơ ơ Ư ư, the combining tone marks, Latin Extended Additional
# (ạ … ỹ), general punctuation, the đồng sign ₫ and №. Hinting is dropped: the PDFs are read
# on screens and printed, where it does not matter, and the files shrink tenfold.
#
# Needs: npm, python3 with venv. Pinned versions and the package's integrity hash below make
# the output reproducible; the script refuses a tarball whose hash differs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=crates/pdf/fonts
PKG=@expo-google-fonts/noto-sans@0.4.2
INTEGRITY='sha512-zYD8G2ijWLxqmquoQgghNh/x9p0yxWwArD0oxO1oXY1qx5vOd4t0Kbhnu/Cx8RTy08OgA8RtxuULZFaXwVPnPw=='
FONTTOOLS=fonttools==4.55.0
UNICODES='U+0020-007E,U+00A0-00FF,U+0100-017F,U+01A0-01B0,U+0300-0323,U+1EA0-1EF9,U+2010-2027,U+2030-203A,U+20AB,U+2116'

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "==> fetching $PKG"
(cd "$WORK" && npm pack --silent "$PKG" >/dev/null)
TARBALL="$(ls "$WORK"/*.tgz)"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [[ "$GOT" != "$INTEGRITY" ]]; then
    echo "integrity mismatch for $PKG: got $GOT" >&2
    exit 1
fi
tar xzf "$TARBALL" -C "$WORK"

echo "==> installing $FONTTOOLS"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$FONTTOOLS"

mkdir -p "$OUT"
for pair in 400Regular:Regular 700Bold:Bold 400Regular_Italic:Italic; do
    src="${pair%%:*}"
    name="${pair##*:}"
    "$WORK/venv/bin/pyftsubset" "$WORK/package/$src/NotoSans_$src.ttf" \
        --unicodes="$UNICODES" --no-hinting --layout-features='kern,liga,ccmp,mark,mkmk' \
        --name-IDs='*' --name-languages='*' --notdef-outline \
        --output-file="$OUT/NotoSans-$name.ttf"
    echo "    $OUT/NotoSans-$name.ttf ($(stat -c %s "$OUT/NotoSans-$name.ttf") bytes)"
done
cp "$WORK/package/LICENSE_FONT" "$OUT/OFL.txt"
echo "==> done"
