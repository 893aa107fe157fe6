-- wrk script: every request asks for a random product in 1..N (N is the
-- first script argument, default 100000), and the run ends with one
-- machine-readable line the shell scripts parse (see bench-line.lua).

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

-- The BENCH line at the end comes from bench-line.lua, next to this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "bench-line.lua")
