-- Shared by the wrk scripts here (loaded with dofile): wrk's done callback,
-- which ends the run with one machine-readable line the shell scripts parse:
--   BENCH <ok req/s> <p50 ms> <p90 ms> <p99 ms> <requests> <non-2xx> <socket errors>
-- "ok req/s" counts only 2xx/3xx answers, so a target that fails fast does
-- not look fast.

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local socket_errors = e.connect + e.read + e.write + e.timeout
  local ok = summary.requests - e.status
  io.write(string.format("BENCH %.1f %.3f %.3f %.3f %d %d %d\n",
    ok / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status, socket_errors))
end
