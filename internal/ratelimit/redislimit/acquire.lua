-- Checks budgets, then admits one request for every scope at once, or for
-- none.
--
-- KEYS, four per scope: the request log (zset: reservation id by admission
-- time), the settled-token log (zset: "id:tokens" by settlement time), the
-- reservation deadlines (zset: id by deadline) and the scope's hash (ts:
-- settled tokens in the log, is: token estimates held, sc: streams held,
-- r:<id>: "estimate:stream" held by one reservation), then the budgets'
-- spend counters (see Spend.key).
-- ARGV: now, window, reservation deadline (all microseconds, the caller's
-- clock), key TTL (milliseconds), reservation id, number of scopes, then
-- five per scope: RPM, TPM, max streams, token estimate, stream (1 or 0);
-- then one per budget: its limit (nano-USD).
-- Returns: -1 and every budget's spend (decimal strings) if a budget is
-- spent, and then nothing is admitted or changed; else 1 if admitted, else
-- 0, then ten numbers per scope describing it before this request (see
-- decode in redislimit.go).

local now, window, deadline, ttl, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local cutoff = now - window
local n = tonumber(ARGV[6])

-- Counters and limits are compared as decimal strings, exact where Lua's
-- numbers would round above 2^53.
local function atleast(a, b)
  if #a ~= #b then return #a > #b end
  return a >= b
end
if #KEYS > n*4 then
  local spent, over = {-1}, false
  for j = n*4 + 1, #KEYS do
    local v = redis.call('GET', KEYS[j])
    if not v or string.sub(v, 1, 1) == '-' then v = '0' end
    if atleast(v, ARGV[6 + n*5 + j - n*4]) then over = true end
    spent[#spent+1] = v
  end
  if over then return spent end
end
local function int(x) return string.format('%d', x) end
-- prune bounds the entries that one call forgets of each log. A burst's
-- entries leave the window together; forgetting them all in the first
-- call after would hold Redis, and with it every scope's calls from every
-- replica, for as long as that takes (tens of milliseconds for a second
-- of a busy key's traffic). At most prune a call, a backlog is gone after
-- a few calls, each of them short.
local prune = 256
local function tokens(member) return tonumber(string.match(member, ':(%d+)$')) end

local out, admit = {0}, true
for i = 1, n do
  local rk, tk, ik, hk = KEYS[i*4-3], KEYS[i*4-2], KEYS[i*4-1], KEYS[i*4]
  local a = 6 + (i-1)*5
  local rpm, tpm, maxs, est = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3]), tonumber(ARGV[a+4])
  local stream = ARGV[a+5] == '1'

  -- Forget what has left the window, at most prune entries of each log a
  -- call (see prune); what is left of it is counted out below, so that
  -- every decision is as if all of it were gone.
  local staleR = redis.call('ZCOUNT', rk, '-inf', int(cutoff))
  if staleR > 0 then
    local k = math.min(staleR, prune)
    redis.call('ZREMRANGEBYRANK', rk, 0, k - 1)
    staleR = staleR - k
  end
  local old = redis.call('ZRANGEBYSCORE', tk, '-inf', int(cutoff), 'LIMIT', 0, prune)
  local staleT = 0
  if #old > 0 then
    local freed = 0
    for _, m in ipairs(old) do freed = freed + tokens(m) end
    redis.call('HINCRBY', hk, 'ts', int(-freed))
    redis.call('ZREMRANGEBYRANK', tk, 0, #old - 1)
    if #old == prune then staleT = redis.call('ZCOUNT', tk, '-inf', int(cutoff)) end
  end
  -- And the reservations of holders that stopped renewing them (a crashed
  -- replica).
  local dead = redis.call('ZRANGEBYSCORE', ik, '-inf', int(now))
  if #dead > 0 then
    for _, r in ipairs(dead) do
      local v = redis.call('HGET', hk, 'r:' .. r)
      if v then
        local e, s = string.match(v, '^(%d+):(%d)$')
        if e ~= '0' then redis.call('HINCRBY', hk, 'is', '-' .. e) end
        if s ~= '0' then redis.call('HINCRBY', hk, 'sc', '-' .. s) end
        redis.call('HDEL', hk, 'r:' .. r)
      end
    end
    redis.call('ZREMRANGEBYSCORE', ik, '-inf', int(now))
  end

  local h = redis.call('HMGET', hk, 'ts', 'is', 'sc')
  local ts, is, sc = tonumber(h[1]) or 0, tonumber(h[2]) or 0, tonumber(h[3]) or 0
  local rc = redis.call('ZCARD', rk) - staleR
  local rNewest, rFree = 0, 0
  if rc > 0 then rNewest = tonumber(redis.call('ZRANGE', rk, -1, -1, 'WITHSCORES')[2]) end
  if rpm > 0 and rc >= rpm then
    admit = false
    rFree = tonumber(redis.call('ZRANGE', rk, staleR + rc - rpm, staleR + rc - rpm, 'WITHSCORES')[2]) + window
  end

  -- The settled tokens of what has left the window but is not forgotten
  -- yet are still in ts: they are summed (one pass over them) only when
  -- the decision turns on them, else the count reported is high by them
  -- until the next calls forget them.
  if staleT > 0 and tpm > 0 and ts + is + est > tpm then
    local f = 0
    for _, m in ipairs(redis.call('ZRANGE', tk, 0, staleT - 1)) do f = f + tokens(m) end
    ts = ts - f
  end
  local used = ts + is
  local settled = redis.call('ZCARD', tk) - staleT
  local tNewest, tFound, tFree = 0, 0, 0
  if settled > 0 then tNewest = tonumber(redis.call('ZRANGE', tk, -1, -1, 'WITHSCORES')[2]) end
  if tpm > 0 then
    if est > tpm then
      admit = false
    elseif used + est > tpm then
      admit = false
      local need, acc = used + est - tpm, 0
      local all = redis.call('ZRANGE', tk, staleT, -1, 'WITHSCORES')
      for j = 1, #all, 2 do
        acc = acc + tokens(all[j])
        if acc >= need then
          tFound, tFree = 1, tonumber(all[j+1]) + window
          break
        end
      end
    end
  end
  if stream and maxs > 0 and sc >= maxs then admit = false end

  for _, v in ipairs({rc, rNewest, rFree, used, is, settled, tNewest, tFound, tFree, sc}) do
    out[#out+1] = v
  end
end

if admit then
  out[1] = 1
  for i = 1, n do
    local rk, ik, hk = KEYS[i*4-3], KEYS[i*4-1], KEYS[i*4]
    local a = 6 + (i-1)*5
    local rpm, tpm, maxs = tonumber(ARGV[a+1]), tonumber(ARGV[a+2]), tonumber(ARGV[a+3])
    if rpm > 0 then redis.call('ZADD', rk, ARGV[1], id) end
    local e, s = '0', '0'
    if tpm > 0 then e = ARGV[a+4] end
    if ARGV[a+5] == '1' and maxs > 0 then s = '1' end
    if tpm > 0 or s == '1' then
      redis.call('HSET', hk, 'r:' .. id, e .. ':' .. s)
      redis.call('ZADD', ik, deadline, id)
      if e ~= '0' then redis.call('HINCRBY', hk, 'is', e) end
      if s ~= '0' then redis.call('HINCRBY', hk, 'sc', s) end
    end
  end
end

for j = 1, n*4 do redis.call('PEXPIRE', KEYS[j], ttl) end
return out
