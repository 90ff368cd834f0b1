// Observable Framework configuration of the Hubgraph dashboards.
//
// Data comes from the Python loaders in src/data (one gateway query per page, see
// README.md), run at build time with HUBGRAPH_GATEWAY_URL and HUBGRAPH_TOKEN.
// Framework caches loader output in src/.observablehq/cache: delete that directory
// before building against another gateway (the hubgraph CLI does), or the old data
// is used again.
//
// Everything is offline: libraries are npm dependencies imported by bare specifier
// (bundled into dist/_node), and no stylesheet, font or link points off-host.
export default {
  root: "src",
  title: "Hubgraph",
  pages: [
    {name: "Ops now", path: "/ops"},
    {name: "Fin", path: "/fin"},
    {name: "Dev", path: "/dev"},
    {name: "Domain", path: "/domain"}
  ],
  pager: true,
  sidebar: true,
  toc: false,
  search: false,
  // Links end in .html, so any static file server serves dist/ (python3 -m http.server).
  preserveExtension: true,
  // The default theme, without its Google Fonts stylesheet.
  theme: "default",
  globalStylesheets: [],
  head: '<link rel="icon" href="data:,">',
  header: "",
  footer: "Hubgraph dashboards: data from the gateway at build time."
};
