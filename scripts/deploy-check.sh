#!/usr/bin/env bash
# Proves that all three Workers bundle the way `wrangler deploy` would, without touching Cloudflare:
# `wrangler deploy --dry-run --env X --outdir <tmp>` for admin, evaluate and cron, offline.
#
#   bash scripts/deploy-check.sh            # CI and before every deploy
#   bash scripts/deploy-check.sh --strict   # also fail while wrangler.toml still has placeholder ids
#   DEPLOY_CHECK_CONFIG=path/to/wrangler.toml bash scripts/deploy-check.sh   # another config (tests)
#
# Prints one line per Worker (bundle size) and exits non-zero if any bundle fails.
set -uo pipefail
cd "$(dirname "$0")/.."
export CLOUDFLARE_CF_FETCH_ENABLED=false WRANGLER_SEND_METRICS=false DO_NOT_TRACK=1
# npm scripts put node_modules/.bin (with Node 22, which wrangler needs) first on PATH; do the same here.
export PATH="$PWD/node_modules/.bin:$PATH"

config="${DEPLOY_CHECK_CONFIG:-wrangler.toml}"
strict=0
[ "${1:-}" = "--strict" ] && strict=1

out="$(mktemp -d "${TMPDIR:-/tmp}/cmis-deploy-check.XXXXXX")"
trap 'rm -rf "$out"' EXIT

failed=0
if [ "$strict" = 1 ] && grep -q 'REPLACE_WITH_KV_NAMESPACE_ID' "$config"; then
  echo "$config: kv_namespaces still has id = \"REPLACE_WITH_KV_NAMESPACE_ID\" (see docs/deploy.md, step 3)"
  failed=1
fi

for env in admin evaluate cron; do
  (
    wrangler deploy --config "$config" --dry-run --env "$env" --outdir "$out/$env" >"$out/$env.log" 2>&1
    echo $? >"$out/$env.rc"
  ) &
done
wait

for env in admin evaluate cron; do
  rc="$(cat "$out/$env.rc" 2>/dev/null || echo 1)"
  bundle="$out/$env/index.js"
  if [ "$rc" = 0 ] && [ -s "$bundle" ]; then
    size="$(wc -c <"$bundle")"
    gzip_line="$(grep -o 'Total Upload: .*' "$out/$env.log" | head -1)"
    printf 'ok    %-9s %8d bytes  (%s)\n' "$env" "$size" "${gzip_line:-no size line}"
  else
    printf 'FAIL  %-9s exit %s\n' "$env" "$rc"
    sed 's/^/      /' "$out/$env.log"
    failed=1
  fi
done

if [ "$failed" = 0 ]; then echo "deploy-check: all three Workers bundle"; else echo "deploy-check: FAILED"; fi
exit "$failed"
