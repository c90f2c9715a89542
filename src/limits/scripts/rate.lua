-- GCRA: KEYS[1] the budget's cell; ARGV[1] emission interval of one unit (µs), ARGV[2] burst,
-- ARGV[3] the action's cost in units (1 when absent). Returns {wait, ahead}: wait 0 when
-- admitted (the cell advanced by the cost), else the microseconds until it would be; ahead, how
-- far the cell's theoretical arrival time then stands ahead of now (µs; 0 when the cell is full),
-- which the node's own copy of the cell follows.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[3] or '1')
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * tonumber(ARGV[2])
if allow_at > now then return {allow_at - now, tat - now} end
redis.call('SET', KEYS[1], new_tat, 'PX', math.floor((new_tat - now) / 1000) + 1)
return {0, new_tat - now}
