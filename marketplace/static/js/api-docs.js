// The API's documentation page: Swagger UI (vendored, pinned) on the app's own OpenAPI document.
(function () {
  "use strict";
  const root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: null, // never ask an outside validator about the document
  });
})();
