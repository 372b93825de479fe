-- Adds one amount of spend to several counters at once.
--
-- KEYS: the counters (one per scope and period, see Spend.key).
-- ARGV: the amount (nano-USD), then one TTL (milliseconds) per key.

for i, k in ipairs(KEYS) do
  redis.call('INCRBY', k, ARGV[1])
  redis.call('PEXPIRE', k, ARGV[i+1])
end
return 1
