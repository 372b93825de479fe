// Package deploy holds what ships Switchyard to machines: the Helm chart
// (helm/switchyard), the scale-out compose topology (compose/) and the
// tests that prove them: the chart rendered with Helm's own engine and
// decoded strictly into the Kubernetes API types, the compose file and its
// mounted configuration checked with the gateway's own loader, and the
// static binary run from an otherwise empty root file system, as the
// container image runs it; and, in console/, the operator console driven
// in headless Chromium (its browser test and the screenshots of
// docs/screenshots). It is its own Go module so that Helm, the Kubernetes
// API types and chromedp never become dependencies of the gateway.
package deploy
