// Package githubactions holds the tests of the psync GitHub Action
// (action.yml and its scripts in action/) and of the example workflows
// beside this file. action_test.go runs action.yml itself as the runner
// runs a composite action — each step's if:, env: and run:, the
// expressions it uses, the outputs one step passes the next — so the tests
// cover the action's wiring as well as its scripts:
//
//   - workflow_test.go, over git repositories with a bare origin checked
//     out as actions/checkout does, and the embedded sandbox: two applies in
//     the order that used to lose state (the second starting from an older
//     commit, main moving during the first) converge with the state intact;
//     a psync killed mid-apply has its state and journal committed, and the
//     next run converges without duplicates; a run for another branch
//     applies nothing; a protected main is named; the summary is written
//     when psync fails; a pull request that edits the state fails its plan check
//     and says why; a fork gets "no secrets for forks".
//   - s3_test.go, with the state in a real S3 server (versitygw): the S3
//     pair applies the newest main, pushes nothing, and its plan only reads.
//   - github_test.go, against a small GitHub REST API served by the test:
//     one comment per pull request, one drift issue, closed when the team
//     matches again.
//   - lint_test.go: bash -n and shellcheck on every script, and no run:
//     script that pastes a ${{ }} expression into the shell.
//
// The package holds only tests; this file exists for its documentation.
package githubactions
