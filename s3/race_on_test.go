//go:build race

package s3

// raceDetector is true in a build with the race detector, which makes every
// request several times dearer in CPU: scale tests shrink under it.
const raceDetector = true
