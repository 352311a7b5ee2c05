// Starts Swagger UI on /api/docs (routes/docs.py); a file, not an inline
// script, so that the page runs under the front door's script-src 'self'.
window.ui = SwaggerUIBundle({
  url: "/api/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default validator is an outside service; nothing leaves the platform.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  layout: "BaseLayout",
});
