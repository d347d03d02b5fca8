// Starts Swagger UI on /docs (api/routes/docs.py). A file of its own, not an inline script:
// the page's Content-Security-Policy runs scripts from this node only.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No validity badge: it would send the document to validator.swagger.io.
  validatorUrl: null,
});
