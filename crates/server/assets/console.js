// The console's only script: a confirmation before a form that moves money or quota
// (forms marked data-confirm). Everything else works without it.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
