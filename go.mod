module github.com/limbic-dev/limbic

go 1.26.8
