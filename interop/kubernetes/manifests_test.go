// Package kubernetes_test checks the manifests in jobs/kubernetes/ against the
// Kubernetes API types (strict decoding) and their container args against
// bulkrevoke's real flag parser. It lives in the interop module so that the
// main module does not depend on k8s.io.
package kubernetes_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bulkrevoke/bulkrevoke/internal/cli"
	"github.com/bulkrevoke/bulkrevoke/internal/concur"
)

// manifestDir holds the Kubernetes manifests; jobDir the job files they mount
// (from interop/kubernetes, the repository root is ../..).
const (
	manifestDir = "../../jobs/kubernetes"
	jobDir      = "../../jobs"
)

// k8sObjects is every object decoded from the manifests, by kind.
type k8sObjects struct {
	cronJobs []batchv1.CronJob
	jobs     []batchv1.Job
	pvcs     []corev1.PersistentVolumeClaim
}

// decodeManifest decodes one YAML document strictly into its typed object:
// a misspelt field is an error here, where kubectl apply would drop it
// silently (or the API server would refuse it during an incident).
func decodeManifest(doc []byte, into *k8sObjects) error {
	var meta metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &meta); err != nil {
		return err
	}
	switch meta.APIVersion + " " + meta.Kind {
	case "batch/v1 CronJob":
		var o batchv1.CronJob
		if err := yaml.UnmarshalStrict(doc, &o); err != nil {
			return err
		}
		into.cronJobs = append(into.cronJobs, o)
	case "batch/v1 Job":
		var o batchv1.Job
		if err := yaml.UnmarshalStrict(doc, &o); err != nil {
			return err
		}
		into.jobs = append(into.jobs, o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		if err := yaml.UnmarshalStrict(doc, &o); err != nil {
			return err
		}
		into.pvcs = append(into.pvcs, o)
	default:
		return fmt.Errorf("unexpected object %q %q", meta.APIVersion, meta.Kind)
	}
	return nil
}

func loadManifests(t *testing.T) k8sObjects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s: %v", manifestDir, err)
	}
	var objs k8sObjects
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			if err := decodeManifest([]byte(doc), &objs); err != nil {
				t.Errorf("%s, document %d: %v", f, i+1, err)
			}
		}
	}
	return objs
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func TestManifestDecodingIsStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc string }{
		{"misspelt job field", "apiVersion: batch/v1\nkind: Job\nspec:\n  completionMod: Indexed\n"},
		{"misspelt container field", "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          arg: [run]\n"},
		{"wrong type", "apiVersion: batch/v1\nkind: CronJob\nspec:\n  startingDeadlineSeconds: soon\n"},
		{"unknown kind", "apiVersion: apps/v1\nkind: Deployment\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := decodeManifest([]byte(tc.doc), &k8sObjects{}); err == nil {
				t.Errorf("accepted:\n%s", tc.doc)
			}
		})
	}
}

// benchmarkPeakMemory is the most the tool used in BENCHMARKS.md (200,000
// rows); a memory limit below it would get the pod killed mid-run.
var benchmarkPeakMemory = resource.MustParse("96Mi")

const fakeAdminToken = "k8s-secret-token-value"

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkPod validates a pod template and returns its container's arguments
// parsed with the real parser (INPUT and --out as paths in the container),
// as Kubernetes would start it: $(VAR) references
// expanded from the container's environment (with downward-API values from
// fieldValues, secrets as fakeAdminToken), and every volume mount mapped to
// a local directory: config maps to the repository's job files, secrets to
// files holding fakeAdminToken, claims to empty directories.
func checkPod(t *testing.T, name string, spec corev1.PodTemplateSpec, claims []string, fieldValues map[string]string) cli.Config {
	t.Helper()
	ps := spec.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("%s: restartPolicy %q: want Never (a pod failure policy needs it, and a resumed run is a new pod)", name, ps.RestartPolicy)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("%s: the pod never talks to the API server: set automountServiceAccountToken: false", name)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%s: want one container, got %d", name, len(ps.Containers))
	}
	c := ps.Containers[0]
	checkSecurity(t, name, ps.SecurityContext, c.SecurityContext)
	checkResources(t, name, c.Resources)
	if strings.Contains(c.Image, "/") {
		t.Errorf("%s: image %q names a registry; the repository names none", name, c.Image)
	}

	// Environment, with the values Kubernetes would give.
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			if e.Name == cli.EnvAdminToken {
				t.Errorf("%s: %s has a literal value: it must come from a Secret", name, e.Name)
			}
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = fakeAdminToken
		case e.ValueFrom.FieldRef != nil:
			v, ok := fieldValues[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Fatalf("%s: env %s: unexpected field %s", name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		case e.ValueFrom.ResourceFieldRef != nil:
			if e.ValueFrom.ResourceFieldRef.ContainerName != c.Name {
				t.Errorf("%s: env %s refers to container %q", name, e.Name, e.ValueFrom.ResourceFieldRef.ContainerName)
			}
			env[e.Name] = "268435456"
		default:
			t.Errorf("%s: env %s: unexpected source", name, e.Name)
		}
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, envRef.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[envRef.FindStringSubmatch(ref)[1]]
			if !ok {
				// Kubernetes leaves an undefined reference as it is.
				t.Errorf("%s: argument %q refers to %s, which the container's env does not define", name, a, ref)
				return ref
			}
			return v
		}))
	}
	if len(args) == 0 || args[0] != "run" {
		t.Fatalf("%s: args %q: want bulkrevoke run ...", name, c.Args)
	}

	// Volume mounts, mapped to local directories.
	local := t.TempDir()
	volumes := map[string]corev1.Volume{}
	for _, v := range ps.Volumes {
		volumes[v.Name] = v
	}
	type mount struct{ container, local string }
	var mounts, persistent []mount
	for i, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Fatalf("%s: mount %s: no such volume", name, m.Name)
		}
		dir := filepath.Join(local, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		mp := mount{filepath.Clean(m.MountPath), dir}
		switch {
		case v.PersistentVolumeClaim != nil:
			if !slices.Contains(claims, v.PersistentVolumeClaim.ClaimName) {
				t.Errorf("%s: claim %q is not among the manifests' PersistentVolumeClaims %q", name, v.PersistentVolumeClaim.ClaimName, claims)
			}
			persistent = append(persistent, mp)
		case v.ConfigMap != nil:
			if !m.ReadOnly {
				t.Errorf("%s: mount %s of the job files should be read-only", name, m.Name)
			}
			// The kubectl create configmap command of docs/OPERATIONS.md names it.
			if v.ConfigMap.Name != "bulkrevoke-jobs" {
				t.Errorf("%s: config map %q: docs/OPERATIONS.md creates bulkrevoke-jobs", name, v.ConfigMap.Name)
			}
		case v.Secret != nil:
			if !m.ReadOnly {
				t.Errorf("%s: mount %s of a secret should be read-only", name, m.Name)
			}
			for _, item := range v.Secret.Items {
				if err := os.WriteFile(filepath.Join(dir, item.Path), []byte(fakeAdminToken+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		default:
			t.Errorf("%s: mount %s: unexpected volume type", name, m.Name)
		}
		mounts = append(mounts, mp)
	}
	under := func(path string, ms []mount) (string, bool) {
		for _, m := range ms {
			if rel, err := filepath.Rel(m.container, filepath.Clean(path)); err == nil && !strings.HasPrefix(rel, "..") {
				return filepath.Join(m.local, rel), true
			}
		}
		return "", false
	}
	toLocal := func(text string) string {
		for _, m := range mounts {
			text = strings.ReplaceAll(text, m.container+"/", m.local+"/")
		}
		return text
	}
	// The job files, as the config map would hold them.
	for i, m := range c.VolumeMounts {
		if volumes[m.Name].ConfigMap == nil {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(jobDir, "*.yaml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(local, fmt.Sprint(i), filepath.Base(f))
			if err := os.WriteFile(dst, []byte(toLocal(string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	var localArgs []string
	for _, a := range args[1:] {
		localArgs = append(localArgs, toLocal(a))
	}
	var stderr bytes.Buffer
	cfg, err := cli.ParseRun(localArgs, func(k string) string { return env[k] }, &stderr)
	if err != nil {
		t.Fatalf("%s: bulkrevoke %q: %v\n%s", name, args, err, stderr.String())
	}
	var adminToken string
	if c, ok := cfg.Settings.(*concur.Settings); ok {
		adminToken = c.AdminToken
	}
	if adminToken != fakeAdminToken {
		t.Errorf("%s: the administrator token did not reach the tool from the Secret (got %q)", name, adminToken)
	}
	if cfg.DryRun || cfg.Sandbox {
		t.Errorf("%s: a manifest for production runs with --dry-run or --sandbox", name)
	}
	// Back to the container's view: INPUT and --out as the pod sees them.
	workDir := c.WorkingDir
	if workDir == "" {
		workDir = "/data" // the image's WORKDIR
	}
	inContainer := func(p string) string {
		for _, m := range mounts {
			if rel, err := filepath.Rel(m.local, p); err == nil && !strings.HasPrefix(rel, "..") {
				return filepath.Join(m.container, rel)
			}
		}
		if !filepath.IsAbs(p) {
			return filepath.Join(workDir, p)
		}
		return p
	}
	cfg.Input, cfg.Out = inContainer(cfg.Input), inContainer(cfg.Out)
	for what, p := range map[string]string{"INPUT": cfg.Input, "--out": cfg.Out} {
		if _, ok := under(p, persistent); !ok {
			t.Errorf("%s: %s %s is not on a persistent volume (the root filesystem is read-only, and outcome files are the record)", name, what, p)
		}
	}
	return cfg
}

func checkSecurity(t *testing.T, name string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) {
	t.Helper()
	if c == nil {
		t.Errorf("%s: no container securityContext", name)
		return
	}
	var podNonRoot, podSeccomp bool
	var podUser *int64
	if pod != nil {
		podNonRoot = pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
		podSeccomp = pod.SeccompProfile != nil && pod.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		podUser = pod.RunAsUser
	}
	nonRoot := podNonRoot || (c.RunAsNonRoot != nil && *c.RunAsNonRoot)
	user := podUser
	if c.RunAsUser != nil {
		user = c.RunAsUser
	}
	seccomp := podSeccomp || (c.SeccompProfile != nil && c.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
	for _, f := range []struct {
		ok   bool
		want string
	}{
		{nonRoot, "runAsNonRoot: true"},
		{user != nil && *user == 65532, "runAsUser: 65532 (the image's user)"},
		{c.ReadOnlyRootFilesystem != nil && *c.ReadOnlyRootFilesystem, "readOnlyRootFilesystem: true"},
		{c.AllowPrivilegeEscalation != nil && !*c.AllowPrivilegeEscalation, "allowPrivilegeEscalation: false"},
		{c.Capabilities != nil && slices.Contains(c.Capabilities.Drop, "ALL"), "capabilities: drop: [ALL]"},
		{seccomp, "seccompProfile: RuntimeDefault"},
	} {
		if !f.ok {
			t.Errorf("%s: security context: want %s", name, f.want)
		}
	}
}

func checkResources(t *testing.T, name string, r corev1.ResourceRequirements) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := r.Requests[res]
		lim, okLim := r.Limits[res]
		if !okReq || !okLim {
			t.Errorf("%s: %s: want both a request and a limit", name, res)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", name, res, req.String(), lim.String())
		}
	}
	if lim, ok := r.Limits[corev1.ResourceMemory]; ok && lim.Cmp(benchmarkPeakMemory) < 0 {
		t.Errorf("%s: memory limit %s is below the benchmark's peak %s", name, lim.String(), benchmarkPeakMemory.String())
	}
}

// checkFailurePolicy checks that a pod failure policy names the container,
// never gives up on exit 3: a run stopped early is exactly what a retry
// with --resume is for; and never retries exits 1, 2 and 4, which a retry
// would only repeat.
func checkFailurePolicy(t *testing.T, name string, p *batchv1.PodFailurePolicy, container string) {
	t.Helper()
	if p == nil {
		return
	}
	for _, code := range []int32{cli.ExitRows, cli.ExitUsage, cli.ExitInvalid} {
		if !slices.ContainsFunc(p.Rules, func(r batchv1.PodFailurePolicyRule) bool {
			return r.OnExitCodes != nil && r.Action != batchv1.PodFailurePolicyActionIgnore &&
				r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn && slices.Contains(r.OnExitCodes.Values, code)
		}) {
			t.Errorf("%s: no pod failure rule ends exit %d, which a retry would only repeat", name, code)
		}
	}
	for _, r := range p.Rules {
		if r.OnExitCodes == nil {
			continue
		}
		if r.OnExitCodes.ContainerName == nil || *r.OnExitCodes.ContainerName != container {
			t.Errorf("%s: pod failure rule %v does not name container %q", name, r.OnExitCodes.Values, container)
		}
		if r.Action != batchv1.PodFailurePolicyActionIgnore && r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
			slices.Contains(r.OnExitCodes.Values, cli.ExitStopped) {
			t.Errorf("%s: pod failure rule %s gives up on exit %d, which a retry resumes", name, r.Action, cli.ExitStopped)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	t.Parallel()
	objs := loadManifests(t)
	var claims []string
	for _, p := range objs.pvcs {
		claims = append(claims, p.Name)
	}

	t.Run("nightly CronJob", func(t *testing.T) {
		t.Parallel()
		if len(objs.cronJobs) != 1 {
			t.Fatalf("want one CronJob, got %d", len(objs.cronJobs))
		}
		cj := objs.cronJobs[0]
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("concurrencyPolicy %q: want Forbid, two runs must never share an outcome file", cj.Spec.ConcurrencyPolicy)
		}
		if d := cj.Spec.StartingDeadlineSeconds; d == nil || *d <= 0 {
			t.Errorf("want startingDeadlineSeconds, so a missed slot is skipped, not run late")
		}
		js := cj.Spec.JobTemplate.Spec
		const jobName = "bulkrevoke-nightly-29412345"
		p := checkPod(t, cj.Name, js.Template, claims, map[string]string{
			"metadata.labels['batch.kubernetes.io/job-name']": jobName,
		})
		checkFailurePolicy(t, cj.Name, js.PodFailurePolicy, js.Template.Spec.Containers[0].Name)
		if !p.Resume {
			t.Errorf("the nightly run must --resume, so that a killed run continues")
		}
		if p.MaxDuration <= 0 {
			t.Fatalf("want --max-duration, the cron window")
		}
		if js.ActiveDeadlineSeconds == nil {
			t.Fatalf("want activeDeadlineSeconds as a backstop to --max-duration")
		}
		deadline := time.Duration(*js.ActiveDeadlineSeconds) * time.Second
		// The tool must get to stop by itself first: the budget, then the
		// requests in flight (at most --timeout each), then compaction.
		if deadline < p.MaxDuration+p.Timeout+time.Minute || deadline > p.MaxDuration+15*time.Minute {
			t.Errorf("activeDeadlineSeconds %v does not match --max-duration %v (+ --timeout %v and a few minutes)", deadline, p.MaxDuration, p.Timeout)
		}
		if !strings.Contains(p.Out, jobName) {
			t.Errorf("--out %s: want one outcome file per night, named after the Job", p.Out)
		}
		if p.PushURL == nil || p.SummaryFile == "" || p.Name != "nightly" {
			t.Errorf("push URL %v, summary %q, name %q: a Job leaves no textfile, so it pushes its metrics, writes a summary, and is named nightly", p.PushURL, p.SummaryFile, p.Name)
		}
	})

	t.Run("Indexed Job", func(t *testing.T) {
		t.Parallel()
		if len(objs.jobs) != 1 {
			t.Fatalf("want one Job, got %d", len(objs.jobs))
		}
		job := objs.jobs[0]
		js := job.Spec
		if js.CompletionMode == nil || *js.CompletionMode != batchv1.IndexedCompletion {
			t.Fatalf("completionMode: want Indexed")
		}
		if js.Completions == nil || js.Parallelism == nil || *js.Completions != *js.Parallelism || *js.Completions < 2 {
			t.Fatalf("want completions = parallelism = N ≥ 2, got %d and %d", deref(js.Completions), deref(js.Parallelism))
		}
		n := int(*js.Completions)
		checkFailurePolicy(t, job.Name, js.PodFailurePolicy, js.Template.Spec.Containers[0].Name)
		if !slices.ContainsFunc(js.Template.Spec.Containers[0].Args, func(a string) bool {
			return a == fmt.Sprintf("--shard=$(JOB_COMPLETION_INDEX)/%d", n)
		}) {
			t.Errorf("args %q: want --shard=$(JOB_COMPLETION_INDEX)/%d", js.Template.Spec.Containers[0].Args, n)
		}
		outs := map[string]bool{}
		var rate float64
		for i := range n {
			p := checkPod(t, fmt.Sprintf("%s index %d", job.Name, i), js.Template, claims, map[string]string{
				"metadata.annotations['batch.kubernetes.io/job-completion-index']": fmt.Sprint(i),
			})
			if p.Shard.Index != i || p.Shard.Count != n {
				t.Errorf("index %d runs shard %v, want %d/%d", i, p.Shard, i, n)
			}
			if outs[p.Out] {
				t.Errorf("index %d writes %s, as another index does: each shard needs its own outcome file", i, p.Out)
			}
			outs[p.Out] = true
			if !p.Resume {
				t.Errorf("index %d: a retried shard must --resume its outcome file", i)
			}
			if p.PushURL == nil || p.Name != "breach" {
				t.Errorf("index %d: push URL %v, name %q: want each shard's metrics pushed under name breach", i, p.PushURL, p.Name)
			}
			rate = p.Rate
		}
		// --rate is per shard; the job file states the global pace.
		jobFile, err := cli.ParseRun([]string{"--job", filepath.Join(jobDir, "breach.yaml"), "--dry-run", "x.csv"}, func(string) string { return "" }, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if rate <= 0 || rate*float64(n) > jobFile.Rate {
			t.Errorf("%d shards at --rate %v send %v requests/s in all, more than breach.yaml's %v", n, rate, rate*float64(n), jobFile.Rate)
		}
	})
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
