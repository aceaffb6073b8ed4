// Marks the page once every image has decoded and every formula is typeset, for the
// Chromium docs test: <body data-figures="N" data-figures-ok="yes|no" data-math="M"
// data-math-ok="yes|no">. A formula is typeset when the browser parsed it as MathML
// (a MathMLElement) and laid it out (non-zero width).
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (img) { return img.complete && img.naturalWidth > 0; });
  var maths = Array.prototype.slice.call(document.getElementsByTagName("math"));
  var mathOk = maths.every(function (m) {
    return typeof MathMLElement !== "undefined" && m instanceof MathMLElement &&
      m.getBoundingClientRect().width > 0;
  });
  document.body.setAttribute("data-figures", String(imgs.length));
  document.body.setAttribute("data-figures-ok", ok ? "yes" : "no");
  document.body.setAttribute("data-math", String(maths.length));
  document.body.setAttribute("data-math-ok", mathOk ? "yes" : "no");
});
