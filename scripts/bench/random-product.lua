-- wrk script: every request asks for a random product in 1..N (N is the
-- first script argument, default 100000), and the run ends with one
-- machine-readable line the shell scripts parse:
--   BENCH <ok req/s> <p50 ms> <p90 ms> <p99 ms> <requests> <non-2xx> <socket errors>
-- "ok req/s" counts only 2xx/3xx answers, so a target that fails fast does
-- not look fast.

local products = 100000

function init(args)
  if args[1] then
    products = tonumber(args[1])
  end
  -- Each thread draws its own sequence.
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format("GET", "/cache?product_id=" .. math.random(1, products))
end

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
