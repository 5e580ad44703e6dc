// Loaded without defer in <head>, before the first paint: the theme the user
// picked last (no flash of the other one). console.js owns the toggle.
try { var t = localStorage.getItem("ae-theme"); if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t); } catch (e) {}
