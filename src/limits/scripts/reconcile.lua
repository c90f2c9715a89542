-- KEYS[1] the user's socket set; ARGV[1] this node's member prefix, ARGV[2] idle expiry (ms),
-- ARGV[3..] the members of the sockets this node holds now: they are the node's members from
-- now on.
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(member, 1, #ARGV[1]) == ARGV[1] then redis.call('SREM', KEYS[1], member) end
end
for i = 3, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
if #ARGV >= 3 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
