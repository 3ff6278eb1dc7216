#!/usr/bin/env bash
# web_test.sh -- the web console's browser tests, as CTest runs them:
# `bash tests/web/web_test.sh BIN` from the repository root.  It starts a
# real `deconflict serve --test-clock --notice 0s` on a free loopback port
# with a fresh store in a temporary directory, runs tests/web/*.test.js
# under node's test runner (playwright-core driving /usr/bin/chromium
# headless), and stops the server.  Screenshots of each step go to
# DCF_WEB_SHOTS (default: web-screenshots/ beside BIN, in the build tree).
# Needs scripts/bootstrap to have run (chromium, node_modules).
set -u
BIN=${1:?usage: web_test.sh path/to/deconflict [node --test args]}
shift
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
for need in /usr/bin/chromium "$root/node_modules/playwright-core"; do
    if [ ! -e "$need" ]; then
        echo "web_test.sh: $need is missing: run scripts/bootstrap" >&2
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/dcf-web.XXXXXX)
server=
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

admin=$("$BIN" init --db "$tmp/web.db" --json |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).admin_token))') || exit 1
port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
"$BIN" serve --db "$tmp/web.db" --listen "127.0.0.1:$port" --test-clock --notice 0s \
      --heartbeat 2s >"$tmp/server.log" 2>&1 &
server=$!
url=http://127.0.0.1:$port
for _ in $(seq 100); do
    if node -e "fetch('$url/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
    sleep 0.2
done

export DCF_WEB_URL=$url DCF_WEB_ADMIN=$admin
export DCF_WEB_SHOTS=${DCF_WEB_SHOTS:-$(dirname "$BIN")/web-screenshots}
mkdir -p "$DCF_WEB_SHOTS"
cd "$root" || exit 2
timeout -k 10 300 node --test --test-concurrency=1 "$@" tests/web/
rc=$?
if [ "$rc" -ne 0 ]; then
    echo "web_test.sh: node --test exited $rc; server log:" >&2
    tail -n 40 "$tmp/server.log" >&2
    exit 1
fi
echo "web_test.sh: screenshots in $DCF_WEB_SHOTS"
