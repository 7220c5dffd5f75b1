# Sourced by typescript-sdk.sh and phala-cli.sh (from the repository root):
# the pinned npm packages both extractions run, installed into $dir with
# npm itself (again only when the pins changed), and `out_abs`, the absolute
# path of the snapshot `$out` to write.
sdk_version="0.2.9"
cli_version="1.1.18"
zod_version="3.25.76"
converter_version="3.25.2"
dir=target/evidence-npm
want="@phala/cloud@$sdk_version phala@$cli_version zod@$zod_version zod-to-json-schema@$converter_version"
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$want" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    (cd "$dir" && echo '{"private":true,"type":"module"}' > package.json \
        && npm install --no-audit --no-fund --ignore-scripts --save-exact $want >/dev/null)
    echo "$want" > "$dir/.installed"
fi
mkdir -p "$(dirname "$out")"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
