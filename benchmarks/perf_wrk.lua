-- Replays Slack-signed requests for benchmarks/perf.py (which signs them just before the run).
-- Each line of the file named after `--`: timestamp, signature, form body (tab-separated).
local requests = {}
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local timestamp, signature, body = line:match("^(%d+)\t([^\t]+)\t(.*)$")
    table.insert(requests, wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Slack-Request-Timestamp"] = timestamp,
      ["X-Slack-Signature"] = signature,
    }, body))
  end
  -- Threads start at different places, so they click different projects.
  counter = math.floor(thread_number * #requests / 2) % #requests
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %f %f %f %f %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
