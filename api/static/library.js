// The Library's enhancements (the page works without them): drop a file on the upload form, an upload
// progress bar (htmx sends the form with XMLHttpRequest and reports its upload progress), a size check before
// sending, scrolling to the file an upload answered with, and choosing the focal point by clicking the picture.
(function () {
  "use strict";

  function toast(message, kind) {
    var t = document.createElement("div");
    t.className = "toast toast-" + kind;
    t.textContent = message;
    document.getElementById("toasts").append(t);
  }

  function setUp() {
    var form = document.getElementById("library-upload");
    if (!form) return;
    var input = form.querySelector("input[type=file]");
    var bar = document.getElementById("upload-progress");
    var hint = form.querySelector(".drop-hint");
    if (hint) hint.hidden = false;

    ["dragenter", "dragover"].forEach(function (name) {
      form.addEventListener(name, function (e) {
        e.preventDefault();
        form.classList.add("dragging");
      });
    });
    ["dragleave", "drop"].forEach(function (name) {
      form.addEventListener(name, function () { form.classList.remove("dragging"); });
    });
    // A file dropped just outside the form must not replace the page with the file.
    ["dragover", "drop"].forEach(function (name) {
      document.addEventListener(name, function (e) { if (!form.contains(e.target)) e.preventDefault(); });
    });
    form.addEventListener("drop", function (e) {
      e.preventDefault();
      if (!e.dataTransfer || !e.dataTransfer.files.length) return;
      if (e.dataTransfer.files.length > 1) toast("One file at a time: uploading the first one.", "info");
      var one = new DataTransfer();
      one.items.add(e.dataTransfer.files[0]);
      input.files = one.files;
      form.requestSubmit();
    });

    form.addEventListener("htmx:beforeRequest", function (e) {
      var file = input.files && input.files[0];
      if (file && file.size > Number(form.dataset.maxBytes)) {
        e.preventDefault();  // the server would refuse it in the same words; don't send it first
        toast(form.dataset.tooLarge, "error");
        return;
      }
      bar.value = 0;
      bar.hidden = false;
    });
    form.addEventListener("htmx:xhr:progress", function (e) {
      if (e.detail.lengthComputable && e.detail.total) bar.value = Math.round(100 * e.detail.loaded / e.detail.total);
    });
    form.addEventListener("htmx:afterRequest", function (e) {
      bar.hidden = true;
      if (e.detail.successful) form.reset();
    });
    // A failed or unreachable upload is told by planner.js's error toast, as for every planner action.
  }

  // After an upload the list reloads (on cheers:outcome); then show the file it answered with.
  var shown = null;
  document.body.addEventListener("cheers:media", function (e) { shown = e.detail.id; });
  document.body.addEventListener("htmx:afterSettle", function (e) {
    if (shown === null || !e.detail.target || e.detail.target.id !== "library") return;
    var item = document.getElementById("asset-" + shown);
    shown = null;
    if (!item) return;
    item.classList.add("highlight");
    item.scrollIntoView({ block: "center" });
  });

  function placeMark(pick, x, y) {
    var mark = pick.querySelector(".lib-focal-mark");
    mark.style.left = x + "%";
    mark.style.top = y + "%";
    mark.hidden = false;
  }

  // Clicking a picture fills in the focal point's fields (Save sends them); typing moves the mark.
  document.addEventListener("click", function (e) {
    var img = e.target.closest && e.target.closest(".lib-focal-pick img");
    if (!img) return;
    var rect = img.getBoundingClientRect();
    var x = Math.round(1000 * (e.clientX - rect.left) / rect.width) / 10;
    var y = Math.round(1000 * (e.clientY - rect.top) / rect.height) / 10;
    var details = img.closest("details");
    details.querySelector("input[name=x]").value = Math.min(100, Math.max(0, x));
    details.querySelector("input[name=y]").value = Math.min(100, Math.max(0, y));
    placeMark(img.parentNode, x, y);
  });
  document.addEventListener("toggle", function (e) {
    var details = e.target;
    if (!details.classList || !details.classList.contains("lib-focal") || !details.open) return;
    var pick = details.querySelector(".lib-focal-pick");
    if (!pick) return;
    placeMark(pick, details.querySelector("input[name=x]").value, details.querySelector("input[name=y]").value);
  }, true);

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
