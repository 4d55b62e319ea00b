/** bolt-agent's version (also in package.json). */
export const VERSION = '0.1.0';
