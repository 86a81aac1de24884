"""`local-tfidf`: TF-IDF character n-grams + logistic regression; trains in about a second.

Character n-grams within words cope with the misspellings, hashtags and handles of short social-media texts
better than word n-grams, and adding word n-grams on top did not help on the reference split.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Sequence

from local_openai.trainers.base import (Hyperparameters, Message, Predictor, TrainingCancelled, TrainingContext,
                                         TrainResult, requested_or_auto)
from local_openai.trainers.classifier import ClassifierPredictor, trained_tokens, training_pairs, validation_pairs

MODEL_FILE = "tfidf.pkl"


def _pipeline(seed: int, c: float):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    features = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True)
    return make_pipeline(features, LogisticRegression(C=c, max_iter=2000, random_state=seed))


class TfidfTrainer:
    base_model = "local-tfidf"
    description = "TF-IDF character n-grams with logistic regression (scikit-learn)"
    answers_without_fine_tuning = False

    def resolve_hyperparameters(self, requested: dict[str, object], n_examples: int) -> Hyperparameters:
        return Hyperparameters(
            n_epochs=int(requested_or_auto(requested, "n_epochs", 1)),
            batch_size=int(requested_or_auto(requested, "batch_size", n_examples)),
            learning_rate_multiplier=float(requested_or_auto(requested, "learning_rate_multiplier", 1.0)),
        )

    def train(self, examples: Sequence[Sequence[Message]], ctx: TrainingContext) -> TrainResult:
        from sklearn.metrics import log_loss

        texts, labels = training_pairs(examples)
        if ctx.should_stop():
            raise TrainingCancelled()
        # learning_rate_multiplier scales the inverse regularisation strength: higher fits the data more closely.
        model = _pipeline(ctx.seed, 10.0 * ctx.hyperparameters.learning_rate_multiplier).fit(texts, labels)
        loss = float(log_loss(labels, model.predict_proba(texts), labels=model.classes_))
        accuracy = float((model.predict(texts) == labels).mean())
        validation: dict[str, float] = {}
        valid_texts, valid_labels = validation_pairs(ctx.validation_examples, list(model.classes_))
        if valid_texts:
            validation = {
                "valid_loss": float(log_loss(valid_labels, model.predict_proba(valid_texts), labels=model.classes_)),
                "valid_accuracy": float((model.predict(valid_texts) == valid_labels).mean()),
            }
        ctx.report(step=1, total_steps=1, train_loss=loss, train_accuracy=accuracy, **validation)
        ctx.output_dir.mkdir(parents=True, exist_ok=True)
        with open(ctx.output_dir / MODEL_FILE, "wb") as handle:
            pickle.dump(model, handle)
        ctx.checkpoint(ctx.hyperparameters.n_epochs, 1, ctx.output_dir)
        n_tokens = trained_tokens(examples, ctx.hyperparameters.n_epochs)
        return TrainResult(trained_tokens=n_tokens, final_metrics={"train_loss": loss, "train_accuracy": accuracy})

    def load(self, model_dir: Path | None) -> Predictor:
        if model_dir is None:
            raise ValueError(f"{self.base_model} cannot answer before fine-tuning")
        with open(model_dir / MODEL_FILE, "rb") as handle:
            model = pickle.load(handle)  # written by this server into its own data dir
        return ClassifierPredictor(lambda texts: [str(label) for label in model.predict(texts)])
