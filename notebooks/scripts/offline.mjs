// A Vite plugin that keeps the built notebooks off the network: notebook-kit's standard
// library loads some builtins (Inputs, Plot, d3, htl, tex, sample datasets...) lazily from
// cdn.jsdelivr.net. These notebooks use none of them, and a page that could reach for a CDN
// would break where only the gateway is reachable. So every CDN URL in notebook-kit's code
// is rewritten to an "offline:" one, and importing such a module fails with an error that
// says what to do instead (depend on the package here and import it by name); a CDN
// stylesheet is left out.

const CDN = /https:\/\/cdn\.jsdelivr\.net\//g;
const OFFLINE = "offline:";
const VIRTUAL = "\0hubgraph-offline:";

export function offline() {
  return {
    name: "hubgraph-offline",
    enforce: "pre",
    transform(code, id) {
      if (!id.includes("/@observablehq/notebook-kit/") || !CDN.test(code)) return null;
      CDN.lastIndex = 0;
      if (/\.css($|\?)/.test(id)) {
        // A stylesheet of a CDN package (Inputs'): left out, with a note.
        const css = code.replace(/@import\s+url\(["']?https:\/\/cdn\.jsdelivr\.net\/([^"')]*)["']?\)[^;]*;/g, "/* not bundled (offline): $1 */"); // prettier-ignore
        return {code: css.replace(CDN, OFFLINE), map: null};
      }
      return {code: code.replace(CDN, OFFLINE), map: null};
    },
    resolveId(source) {
      return source.startsWith(OFFLINE) ? VIRTUAL + source.slice(OFFLINE.length) : null;
    },
    load(id) {
      if (!id.startsWith(VIRTUAL)) return null;
      const what = id.slice(VIRTUAL.length);
      const message = `${what} would come from a CDN, and these notebooks are built to work offline: add the package to notebooks/package.json and import it by name`; // prettier-ignore
      return {code: `throw new Error(${JSON.stringify(message)});\nexport default undefined;\n`, syntheticNamedExports: "default"}; // prettier-ignore
    }
  };
}
