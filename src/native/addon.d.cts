/** Loads the raw napi addon; throws when it is missing or does not load on this platform. */
export declare function load(): unknown;
