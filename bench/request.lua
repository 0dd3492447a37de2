-- wrk script for bench/run: shapes every request from environment variables that
-- an endpoint's setup function exports, so most endpoints need no script of their own.
--   BENCH_METHOD         HTTP method (default GET; bench/run sets it from the entry)
--   BENCH_BODY           request body; sent with Content-Type BENCH_CONTENT_TYPE
--   BENCH_CONTENT_TYPE   default application/json
--   BENCH_AUTHORIZATION  full Authorization header value, e.g. "Bearer eyJ…" or "Bearer plk_…"
-- No response() callback: wrk is fastest without one and counts non-2xx itself.

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
end

local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then
   wrk.headers["Authorization"] = auth
end
