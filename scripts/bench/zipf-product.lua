-- wrk script: every request asks for a product drawn from a Zipf
-- distribution over 1..N: the product of popularity rank k is asked for with
-- probability proportional to 1/k^s. Arguments: N (default 1000000), s
-- (default 1.1; 0 makes every product equally likely) and B (default 0:
-- GET /cache?product_id=..., one product a request; B > 0: POST
-- /v1/product-inventory with B products drawn the same way). With N = 1M
-- and s = 1.1 the 1,000 most popular products take ~69% of the reads, the
-- 10,000 most popular ~82%, the 100,000 ~92%.
--
-- Ranks are spread over the id range (rank k is product ((k-1)*P mod N) + 1,
-- P a prime that divides no N used here), so popular products are not all
-- neighbours. Each thread computes the cumulative distribution once at start
-- (N numbers) and draws a rank by binary search over it: ~20 comparisons,
-- small beside a request, so wrk stays off the critical path.
--
-- The run ends with the machine-readable line of bench-line.lua.

local products = 1000000
local s = 1.1
local batch = 0
local headers = { ["Content-Type"] = "application/json" }
local cdf = {}
local spread = 999983

function init(args)
  if args[1] then
    products = tonumber(args[1])
  end
  if args[2] then
    s = tonumber(args[2])
  end
  if args[3] then
    batch = tonumber(args[3])
  end
  if products % spread == 0 then
    spread = 999979
  end
  local sum = 0
  for k = 1, products do
    sum = sum + k ^ -s
    cdf[k] = sum
  end
  for k = 1, products do
    cdf[k] = cdf[k] / sum
  end
  cdf[products] = 1
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

-- rank returns the smallest k with cdf[k] >= u.
local function rank(u)
  local lo, hi = 1, products
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

local function product()
  return ((rank(math.random()) - 1) * spread) % products + 1
end

function request()
  if batch <= 0 then
    return wrk.format("GET", "/cache?product_id=" .. product())
  end
  local ids = {}
  for i = 1, batch do
    ids[i] = product()
  end
  return wrk.format("POST", "/v1/product-inventory", headers, '{"product_ids":[' .. table.concat(ids, ",") .. "]}")
end

-- The BENCH line at the end comes from bench-line.lua, next to this file.
dofile((debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "") .. "bench-line.lua")
