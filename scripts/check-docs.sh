#!/usr/bin/env bash
# Builds the DocC documentation of every library target with the swift-docc-plugin and fails
# on the first warning (an unresolved symbol link, an undocumented parameter, ...).
#   scripts/check-docs.sh              every library target
#   scripts/check-docs.sh StewardCore  the targets named
# The archives land in .build/plugins/Swift-DocC/outputs/TARGET.doccarchive.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/opt/swift/usr/bin"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(StewardCore StewardDevice StewardPermissions StewardCrash StewardHTTP StewardTelemetry
             StewardTesting StewardMedia Steward StewardServiceLifecycle)
fi

failed=()
for target in "${targets[@]}"; do
    echo "== $target"
    if ! swift package --disable-sandbox generate-documentation --target "$target" --warnings-as-errors; then
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "DocC warnings in: ${failed[*]}" >&2
    exit 1
fi
echo "DocC: ${#targets[@]} target(s) built without warnings."
