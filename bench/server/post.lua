-- post.lua -- wrk script for the deconflict side of the server benchmark
-- (bench/server/deconflict.sh): every request is POST /v1/operations with one
-- operation, in the token of that operation's party.
--
-- Input (environment, read by every wrk thread):
--   DCF_WRK_DIR    directory with tokens.txt ("party token" lines) and
--                  part-<i>.txt for wrk thread i (prep.py wrk-split: one
--                  "party<TAB>body" line per operation, bodies without "id")
--   DCF_WRK_MODE   "once": post every line once, then stop the thread (the
--                  preload; the thread writes DIR/done-<i> when its last
--                  response is in, and deconflict.sh then stops wrk with
--                  SIGINT, since wrk itself always sleeps its full -d);
--                  "run" (default): post lines in order for wrk's -d,
--                  starting over (and counting a wrap) if a part runs out
--   DCF_WRK_JSON   file that done() writes the run's figures to (JSON)
--
-- Invariants: thread i posts only the lines of part-<i>, in order, so within
-- one run every operation is posted at most once per wrap, and the parts of
-- different threads never overlap.  Any answer but 201 to a POST is counted
-- (status_errors) and the first three are printed to stderr.

local dir = os.getenv("DCF_WRK_DIR")
local mode = os.getenv("DCF_WRK_MODE") or "run"

local threads = {}
local nthreads = 0

function setup(thread)
    thread:set("tid", nthreads)
    nthreads = nthreads + 1
    threads[nthreads] = thread
end

local tokens, file, exhausted
sent, received, wraps, bad = 0, 0, 0, 0

function init(args)
    tokens = {}
    for line in io.lines(dir .. "/tokens.txt") do
        local party, token = line:match("^(%S+)%s+(%S+)$")
        tokens[party] = "Bearer " .. token
    end
    file = assert(io.open(dir .. "/part-" .. tid .. ".txt", "r"))
    exhausted = false
end

local function next_line()
    local line = file:read("*l")
    if line == nil and mode ~= "once" then
        wraps = wraps + 1
        file:seek("set")
        line = file:read("*l")
    end
    return line
end

-- wrk 4.1 calls thread 0's request() once before the thread starts, to
-- count pipelined requests (script_verify_request), and never sends what it
-- returns: give that call a GET, so that no operation is lost.
local verified = false

function request()
    if tid == 0 and not verified then
        verified = true
        return wrk.format("GET", "/readyz")
    end
    local line = not exhausted and next_line() or nil
    if line == nil then
        -- "once" and out of lines: keep the connection busy with something
        -- harmless until the last POST is answered and the thread stops.
        exhausted = true
        return wrk.format("GET", "/readyz")
    end
    local party, body = line:match("^([^\t]+)\t(.*)$")
    sent = sent + 1
    return wrk.format("POST", "/v1/operations", {
        ["Authorization"] = tokens[party],
        ["Content-Type"] = "application/json",
    }, body)
end

function response(status, headers, body)
    if status == 200 then
        -- a /readyz filler (a POST is answered 201 or an error)
    else
        received = received + 1
        if status ~= 201 then
            bad = bad + 1
            if bad <= 3 then
                io.stderr:write(string.format("post.lua: thread %d: status %d: %s\n", tid, status,
                    string.sub(body or "", 1, 300)))
            end
        end
    end
    if mode == "once" and exhausted and received >= sent then
        local f = io.open(dir .. "/done-" .. tid, "w")
        f:write(string.format("%d %d\n", sent, bad))
        f:close()
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local s, r, w, b = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        s = s + t:get("sent")
        r = r + t:get("received")
        w = w + t:get("wraps")
        b = b + t:get("bad")
    end
    local e = summary.errors
    local out = string.format(
        '{"requests": %d, "duration_s": %.6f, "requests_per_s": %.2f, ' ..
        '"posts_sent": %d, "posts_answered": %d, "status_errors": %d, "wraps": %d, ' ..
        '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
        '"latency_ms": {"mean": %.3f, "stdev": %.3f, "p50": %.3f, "p75": %.3f, "p90": %.3f, ' ..
        '"p99": %.3f, "p99_9": %.3f, "max": %.3f}}\n',
        summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
        s, r, b, w, e.connect, e.read, e.write, e.timeout,
        latency.mean / 1e3, latency.stdev / 1e3, latency:percentile(50) / 1e3,
        latency:percentile(75) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
        latency:percentile(99.9) / 1e3, latency.max / 1e3)
    local path = os.getenv("DCF_WRK_JSON")
    if path then
        local f = assert(io.open(path, "w"))
        f:write(out)
        f:close()
    end
    io.write(out)
end
