// Starts Swagger UI on /docs (kept out of the HTML: the page's Content-Security-Policy allows no inline script).
"use strict";
window.ui = SwaggerUIBundle({
  url: "/docs/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
