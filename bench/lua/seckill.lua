if redis.call("EXISTS", KEYS[1]) == 0 then return -1 end
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock < tonumber(ARGV[1]) then return 0 end
redis.call("DECRBY", KEYS[1], ARGV[1])
return 1
