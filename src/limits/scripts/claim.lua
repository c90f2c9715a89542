-- KEYS[1] the user's socket set; ARGV[1] cap, ARGV[2] member, ARGV[3] the partition's node-key
-- prefix (`herald:{p}:node:`, same slot), ARGV[4] idle expiry (ms), ARGV[5] this node's
-- instance, ARGV[6] node lease (ms). Says the claiming node is alive (so a claim made before
-- its first heartbeat counts), drops members of dead nodes; returns 1 when claimed, 0 when the
-- user is at the cap.
redis.call('SET', ARGV[3] .. ARGV[5], 1, 'PX', ARGV[6])
local live = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local node = string.match(member, '^(.*)/[^/]*$')
  if node and redis.call('EXISTS', ARGV[3] .. node) == 1 then
    live = live + 1
  else
    redis.call('SREM', KEYS[1], member)
  end
end
if live >= tonumber(ARGV[1]) then return 0 end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
