-- wrk script for bench/run: POST an invitation to a new address on every
-- request (the same address twice would be 409 invitation_pending). Each wrk
-- thread numbers its requests; a random run tag keeps runs apart.
--   BENCH_AUTHORIZATION  "Bearer <token>" of the org's owner
local threads = {}
local tag = 0

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   math.randomseed(os.time() * 1000 + (tid or 0))
   tag = math.random(1, 2000000000)
   n = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = os.getenv("BENCH_AUTHORIZATION")
end

function request()
   n = n + 1
   local body = string.format('{"email":"i%d-%d-%d@bench.example","role":"member"}',
                              tag, tid or 0, n)
   return wrk.format(nil, nil, nil, body)
end
