//! The server a `seckill` run measures: shardhub's native flash-sale commands, or Redis
//! running the reference Lua stock script (the usual way a Redis shop does a flash sale).

/// The reference script, as given in the issue that asked for the comparison: it checks and
/// decrements one SKU's counter atomically. Answers 1 (reserved), 0 (sold out), -1 (no SKU).
pub const REDIS_LUA_SCRIPT: &str = include_str!("../../lua/seckill.lua");

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SeckillTarget {
    /// shardhub: STOCK.SET / SECKILL.BUY / ORDER.PAY / STOCK.GET.
    Shardhub,
    /// Redis with the reference Lua script: SET / EVALSHA / GET.
    #[value(name = "redis-lua")]
    RedisLua,
}

impl SeckillTarget {
    pub fn name(self) -> &'static str {
        match self {
            SeckillTarget::Shardhub => "shardhub",
            SeckillTarget::RedisLua => "redis-lua",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_the_reference_one() {
        assert!(REDIS_LUA_SCRIPT.starts_with("if redis.call(\"EXISTS\", KEYS[1]) == 0 then return -1 end\n"));
        assert!(REDIS_LUA_SCRIPT.contains("redis.call(\"DECRBY\", KEYS[1], ARGV[1])"));
    }
}
