-- Extends a running reservation's deadline, unless it has expired already.
--
-- KEYS, three per scope: the settled-token log, the reservation deadlines
-- and the scope's hash (see acquire.lua).
-- ARGV: new deadline (microseconds), key TTL (milliseconds), reservation id.

for i = 1, #KEYS / 3 do
  redis.call('ZADD', KEYS[i*3-1], 'XX', ARGV[1], ARGV[3])
  for j = i*3-2, i*3 do redis.call('PEXPIRE', KEYS[j], ARGV[2]) end
end
return 1
