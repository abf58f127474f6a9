// oidc-provider's storage adapter on Redis, shared by every cluster worker (the in-memory
// default is per process, so a refresh token issued by one worker would be unknown to the other).
// It follows the Redis adapter of oidc-provider's own example/ directory: grantable tokens are
// listed under their grant for revocation, consumable ones (codes, refresh tokens) are hashes
// with a `consumed` field.
import Redis from 'ioredis';

const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);
const CONSUMABLE = new Set([
  'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

const grantKeyFor = (id) => `grant:${id}`;
const userCodeKeyFor = (userCode) => `userCode:${userCode}`;
const uidKeyFor = (uid) => `uid:${uid}`;

export function redisAdapter(url, prefix) {
  const client = new Redis(url, { keyPrefix: prefix });

  return class RedisAdapter {
    constructor(name) {
      this.name = name;
    }

    key(id) {
      return `${this.name}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const multi = client.multi();
      if (CONSUMABLE.has(this.name)) {
        multi.hset(key, { payload: JSON.stringify(payload) });
      } else {
        multi.set(key, JSON.stringify(payload));
      }
      if (expiresIn) multi.expire(key, expiresIn);
      if (GRANTABLE.has(this.name) && payload.grantId) {
        const grantKey = grantKeyFor(payload.grantId);
        multi.rpush(grantKey, key);
        const ttl = await client.ttl(grantKey);
        if (expiresIn > ttl) multi.expire(grantKey, expiresIn);
      }
      if (payload.userCode) {
        multi.set(userCodeKeyFor(payload.userCode), id);
        multi.expire(userCodeKeyFor(payload.userCode), expiresIn);
      }
      if (payload.uid) {
        multi.set(uidKeyFor(payload.uid), id);
        multi.expire(uidKeyFor(payload.uid), expiresIn);
      }
      await multi.exec();
    }

    async find(id) {
      const data = CONSUMABLE.has(this.name)
        ? await client.hgetall(this.key(id))
        : await client.get(this.key(id));
      if (!data || (typeof data === 'object' && !Object.keys(data).length)) return undefined;
      if (typeof data === 'string') return JSON.parse(data);
      const { payload, ...rest } = data;
      return { ...rest, ...JSON.parse(payload) };
    }

    async findByUid(uid) {
      const id = await client.get(uidKeyFor(uid));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await client.get(userCodeKeyFor(userCode));
      return id ? this.find(id) : undefined;
    }

    async destroy(id) {
      await client.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      const multi = client.multi();
      const tokens = await client.lrange(grantKeyFor(grantId), 0, -1);
      tokens.forEach((token) => multi.del(token));
      multi.del(grantKeyFor(grantId));
      await multi.exec();
    }

    async consume(id) {
      await client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
    }
  };
}
