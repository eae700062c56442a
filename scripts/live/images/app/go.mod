module kspan-rs/test-app

go 1.22
