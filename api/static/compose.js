// The composer's live limits and previews (progressive enhancement: the server checks the same rules on submit).
// Counts follow core/posts/rules.py: HASHTAG (?<![\w&])#\w+ and MENTION (?<![\w.])@[\w.]+, with Python's
// Unicode \w written as letters, marks, digits and the underscore; limits come from the page (data-max).
(function () {
  "use strict";
  var W = "\\p{L}\\p{M}\\p{N}_";
  var HASHTAG = new RegExp("(?<![" + W + "&])#[" + W + "]+", "gu");
  var MENTION = new RegExp("(?<![" + W + ".])@[" + W + ".]+", "gu");

  function counted(what, text) {
    if (what === "hashtags") return (text.match(HASHTAG) || []).length;
    if (what === "mentions") return (text.match(MENTION) || []).length;
    return Array.from(text).length; // Python's len(): code points, not UTF-16 units
  }

  function refresh(form) {
    var main = form.querySelector("#text");
    form.querySelectorAll(".limit-line").forEach(function (line) {
      var caption = document.getElementById("caption-" + line.dataset.provider);
      var own = caption ? caption.value : "";
      var text = own || (main ? main.value : "");
      line.querySelector(".source").textContent = own ? " (its own text)" : "";
      line.querySelectorAll(".count").forEach(function (count) {
        var what = count.dataset.what;
        var n = counted(what, text);
        var max = Number(count.dataset.max);
        count.querySelector(".n").textContent = String(n);
        count.classList.toggle("over", n > max);
        count.lastChild.textContent = " of " + max + " " + what + (n > max ? " (too many)" : "");
      });
    });
  }

  function platforms(form) {
    // Only the platforms of the ticked targets matter; with none ticked every platform shows.
    var ticked = Array.from(form.querySelectorAll("input[name=connection_ids]:checked")).map(function (box) {
      return box.dataset.provider;
    });
    form.querySelectorAll(".caption, .version, .limit-line").forEach(function (el) {
      el.hidden = ticked.length > 0 && ticked.indexOf(el.dataset.provider) < 0;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compose");
    if (!form) return;
    form.querySelectorAll(".count").forEach(function (count) {
      // One text node after the number, rewritten as the count changes.
      var n = count.querySelector(".n");
      while (n.nextSibling) count.removeChild(n.nextSibling);
      count.appendChild(document.createTextNode(""));
    });
    form.addEventListener("input", function () { refresh(form); });
    form.addEventListener("change", function () { platforms(form); });
    refresh(form);
    platforms(form);
    var errors = document.getElementById("compose-errors");
    if (errors) errors.focus();
  });
})();
