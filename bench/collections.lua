-- wrk script for the PATCH row of bench/collections.sh: a merge patch
-- (BENCH_BODY) with If-Match, round-robin over the records BENCH_IDS names
-- (comma-separated) under the request path, so that connections rarely wait
-- on one another's row lock.
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS") or "", "[^,]+") do
   ids[#ids + 1] = id
end
local n = 0
local body = os.getenv("BENCH_BODY") or "{}"
local auth = os.getenv("BENCH_AUTHORIZATION")

request = function()
   n = n + 1
   local path = wrk.path .. "/" .. ids[(n % #ids) + 1]
   local headers = {["Content-Type"] = "application/json", ["If-Match"] = "*"}
   if auth then
      headers["Authorization"] = auth
   end
   return wrk.format("PATCH", path, headers, body)
end
