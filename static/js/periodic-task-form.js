// django-celery-beat's periodic task admin form: hide the crontab translation field
// and show the chosen crontab in words under the crontab field. The library's template
// does this in an inline script; templates/admin/djcelery/change_periodictask_form.html
// loads this file instead, for the Content-Security-Policy.
(function () {
  "use strict";
  const $ = django.jQuery;
  const readableCrontabs = JSON.parse(document.getElementById("readable-crontabs").textContent);
  const originalCrontabHelp = document.getElementById("periodic-task-overrides").dataset.crontabHelp;

  function updateCrontabHelp(additional) {
    const help = $(".field-crontab .help");
    help.empty();
    help.append(document.createTextNode(originalCrontabHelp));
    help.append(document.createElement("br"));
    help.append(document.createTextNode(`Translation: ${additional}`));
  }

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]);
  });
})();
