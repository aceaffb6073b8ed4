// Marks the page once every image has decoded, for the Chromium docs test:
// <body data-figures="N" data-figures-ok="yes|no">.
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (img) { return img.complete && img.naturalWidth > 0; });
  document.body.setAttribute("data-figures", String(imgs.length));
  document.body.setAttribute("data-figures-ok", ok ? "yes" : "no");
});
