// The periodic task form of the admin (django-celery-beat): under the crontab
// choice, its schedule in words (templates/admin/djcelery/change_periodictask_form.html
// replaces the package's inline script, which the Content-Security-Policy blocks).
(function () {
  "use strict";
  function start() {
    var translation = document.querySelector(".field-crontab_translation");
    if (translation) translation.hidden = true;
    var data = document.getElementById("readable-crontabs");
    var select = document.getElementById("id_crontab");
    var help = document.querySelector(".field-crontab .help");
    if (!data || !select || !help) return;
    var readable = JSON.parse(data.textContent);
    var original = help.textContent.trim();
    select.addEventListener("change", function () {
      help.textContent = original;
      help.appendChild(document.createElement("br"));
      help.appendChild(document.createTextNode("Translation: " + (readable[select.value] || "")));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
