// A memo of values derived from the config (compiled templates, their encoders): a handful of
// keys, so the bound only guards against keys that ever came from elsewhere, and reaching it
// clears the whole map rather than tracking which entry is oldest.

/** `cache`'s value for `key`, made by `make(key)` and kept the first time. */
export function memo<K, V>(cache: Map<K, V>, max: number, key: K, make: (key: K) => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make(key);
    if (cache.size >= max) cache.clear();
    cache.set(key, value);
  }
  return value;
}
