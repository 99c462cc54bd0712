// Package githubactions holds the tests of the psync GitHub Action
// (action.yml and its scripts in action/) and of the example workflows
// beside this file:
//
//   - workflow_test.go runs the action's real scripts over git
//     repositories with a bare origin and the embedded sandbox: two applies
//     in the order that used to lose state (the second starting from an
//     older commit, main moving during the first) converge with the state
//     intact; a pull request that edits the state file fails its plan
//     check and says why; a fork gets "no secrets for forks".
//   - github_test.go runs the comment and drift-issue scripts against a
//     small GitHub REST API served by the test: one comment per pull
//     request, one drift issue, closed when the team matches again.
//   - lint_test.go checks every run: script (bash -n, shellcheck) and that
//     none pastes a ${{ }} expression into the shell.
//
// The package holds only tests; this file exists for its documentation.
package githubactions
