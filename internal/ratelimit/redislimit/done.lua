-- Settles one reservation: releases what it holds in every scope and
-- records the actual tokens where TPM is limited; then adds the request's
-- spend to its counters, as add.lua does.
--
-- KEYS, three per scope: the settled-token log, the reservation deadlines
-- and the scope's hash (see acquire.lua); then the spend counters (none if
-- there is no spend to add).
-- ARGV: settlement time (microseconds), key TTL (milliseconds), reservation
-- id, actual tokens, number of scopes, then one per scope: 1 if it counts
-- tokens, else 0; then the spend (nano-USD) and one TTL (milliseconds) per
-- spend counter.

local at, ttl, id, actual, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
for i = 1, n do
  local tk, ik, hk = KEYS[i*3-2], KEYS[i*3-1], KEYS[i*3]
  local v = redis.call('HGET', hk, 'r:' .. id)
  -- Gone if its deadline passed and another call released it already.
  if v then
    local e, s = string.match(v, '^(%d+):(%d)$')
    if e ~= '0' then redis.call('HINCRBY', hk, 'is', '-' .. e) end
    if s ~= '0' then redis.call('HINCRBY', hk, 'sc', '-' .. s) end
    redis.call('HDEL', hk, 'r:' .. id)
    redis.call('ZREM', ik, id)
  end
  if ARGV[5+i] == '1' and tonumber(actual) > 0 then
    redis.call('ZADD', tk, at, id .. ':' .. actual)
    redis.call('HINCRBY', hk, 'ts', actual)
  end
  redis.call('PEXPIRE', tk, ttl)
  redis.call('PEXPIRE', ik, ttl)
  redis.call('PEXPIRE', hk, ttl)
end
for j = n*3 + 1, #KEYS do
  redis.call('INCRBY', KEYS[j], ARGV[6+n])
  redis.call('PEXPIRE', KEYS[j], ARGV[6+n + j - n*3])
end
return 1
