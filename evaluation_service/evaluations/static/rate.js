// Citizen rating page: shows the chosen level's reasons and checks a bad review has one before the
// plain form POST. Without this script the form still works; the server gives the same messages.
(function () {
  "use strict";
  var form = document.getElementById("rate-form");
  if (!form) return;
  var error = document.getElementById("form-error");
  var button = document.getElementById("submit");

  function chosenLevel() {
    var checked = form.querySelector("input[name=level]:checked");
    return checked ? Number(checked.value) : null;
  }

  function showError(text) {
    error.textContent = text;
    error.hidden = false;
    error.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  form.addEventListener("change", function (event) {
    if (event.target.name !== "level") return;
    var level = String(chosenLevel());
    form.setAttribute("data-level", level);
    // Reasons ticked under another level would be refused: clear them when the level changes.
    form.querySelectorAll(".tags").forEach(function (group) {
      if (group.getAttribute("data-level") === level) return;
      group.querySelectorAll("input:checked").forEach(function (box) { box.checked = false; });
    });
    error.hidden = true;
  });

  form.addEventListener("submit", function (event) {
    var level = chosenLevel();
    if (level === null) {
      event.preventDefault();
      showError("请先选择您的满意程度。");
      return;
    }
    var group = form.querySelector('.tags[data-level="' + level + '"]');
    var ticked = group ? group.querySelectorAll("input:checked").length : 0;
    var comment = form.querySelector("#comment").value.trim();
    if (level <= 2 && ticked === 0 && comment === "") {
      event.preventDefault();
      showError("选择“不满意”或“非常不满意”时，请至少选择一项原因或填写意见。");
      return;
    }
    button.disabled = true;
    button.textContent = "正在提交…";
  });
})();

// Coming back with the browser's back button restores the page as it was left: enable the button.
window.addEventListener("pageshow", function () {
  var button = document.getElementById("submit");
  if (button) { button.disabled = false; button.textContent = "提交评价"; }
});
