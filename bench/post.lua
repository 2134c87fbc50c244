-- wrk script: POST the body in $BODY_FILE to a fresh docId each request.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BODY_GZIP") == "1" then
  wrk.headers["Content-Encoding"] = "gzip"
end
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/submit/telemetry/bench-" .. n ..
                    "/saved-session/Firefox/23.0/release/20130814063812")
end
